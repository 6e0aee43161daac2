// Install the pinned npm packages of package-lock.json into ./node_modules
// from the tarballs in vendor/, offline: each tarball must match the sha512
// integrity the lockfile records for it (the registry's own), or nothing is
// installed.  Run by test/node/run.sh; needs only node and tar.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');

const here = __dirname;
const lock = JSON.parse(fs.readFileSync(path.join(here, 'package-lock.json'), 'utf8'));
const vendor = process.argv[2] || path.join(here, 'vendor');
let n = 0;
for (const [key, pkg] of Object.entries(lock.packages)) {
	if (key === '') continue;
	const name = key.replace(/^node_modules\//, '');
	const file = path.join(vendor, `${name.replace('/', '-')}-${pkg.version}.tgz`);
	const data = fs.readFileSync(file);
	const [algo, want] = pkg.integrity.split('-', 2);
	const got = crypto.createHash(algo).update(data).digest('base64');
	if (got !== want) {
		console.error(`${file}: ${algo} ${got} does not match the lockfile's ${want}`);
		process.exit(1);
	}
	const dest = path.join(here, key);
	fs.mkdirSync(dest, { recursive: true });
	execFileSync('tar', ['-xzf', file, '-C', dest, '--strip-components=1']);
	n++;
}
console.log(`installed ${n} packages from ${vendor}`);
