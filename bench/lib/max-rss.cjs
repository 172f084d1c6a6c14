// Preloaded with `node --require` by bench/lock.bench.ts: reports the process's
// peak resident set size (KiB) on stderr as it exits.
process.on('exit', () => {
  process.stderr.write(`\nmax-rss-kib:${process.resourceUsage().maxRSS}\n`);
});
