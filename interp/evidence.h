/*
 * evidence.h: `drplay evidence verify`, the check of an evidence document
 * that report.write's `evidence` format wrote (SPEC 8.3.3).
 */
#ifndef DRPLAY_EVIDENCE_H
#define DRPLAY_EVIDENCE_H

/* `drplay evidence verify FILE [--key PUBLIC_KEY] [--journal JOURNAL]`:
 * argv[0] is "evidence". Prints one line per check and the verdict; returns
 * EXIT_OK when everything checked fits, EXIT_CHECK_FAILED when something
 * does not (named), EXIT_INVALID for usage errors and unreadable files. */
int evidence_command(int argc, char **argv);

#endif
