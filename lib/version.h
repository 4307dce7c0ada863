/* version.h: drplay's version, printed by --version and written into SARIF. */
#ifndef DRPLAY_VERSION_H
#define DRPLAY_VERSION_H
#define DRPLAY_VERSION "0.1.0"
#endif
