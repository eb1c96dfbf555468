// The bundled example: vmprof's x.py shape (main -> f -> h -> g) in Node, with real work in each
// function, so the top view shows cumulative shares with inlining, JSON, regexes and sorting.
function g(n) {
  const words = [];
  for (let i = 0; i < n; i++) words.push(`w${(i * 7919) % 1000}`);
  return words.sort().length;
}
function h(n) {
  let total = 0;
  for (let i = 0; i < n; i++) total += JSON.parse(JSON.stringify({ i, s: `item-${i}`, list: [i, i + 1, i + 2] })).list[2];
  return total + g(n * 4);
}
function f(n) {
  let hits = 0;
  const re = /item-(\d+)/;
  for (let i = 0; i < n * 20; i++) if (re.test(`item-${i}`)) hits++;
  return hits + h(n);
}
function main() {
  const end = Date.now() + Number(process.argv[2] || 1500);
  let sink = 0;
  while (Date.now() < end) sink += f(2000);
  return sink;
}
main();
