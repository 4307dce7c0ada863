// pg_rowsum.js: an independent implementation of drplay's table digest
// (SPEC.md, 'Content checksums'), for tests. Reads COPY text on stdin (one
// row per line), adds the rows' SHA-256 digests modulo 2^256 and prints
// SHA-256("drplay-checksum-v1" || sum as 32 bytes || row count as 8 bytes), hex.
const crypto = require("crypto");
const chunks = [];
process.stdin.on("data", (d) => chunks.push(d)).on("end", () => {
	const data = Buffer.concat(chunks);
	const mod = 1n << 256n;
	let sum = 0n, count = 0n, start = 0;
	for (let i = 0; i < data.length; i++) {
		if (data[i] !== 0x0a) continue;
		const d = crypto.createHash("sha256").update(data.subarray(start, i)).digest("hex");
		sum = (sum + BigInt("0x" + d)) % mod;
		count++;
		start = i + 1;
	}
	const s = Buffer.from(sum.toString(16).padStart(64, "0"), "hex");
	const c = Buffer.alloc(8);
	c.writeBigUInt64BE(count);
	console.log(crypto.createHash("sha256").update(Buffer.concat([Buffer.from("drplay-checksum-v1"), s, c])).digest("hex"));
});
