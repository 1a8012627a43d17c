# fault: a generator asked for more rows than fit in memory
pipeline p {
  stage a = synth.arith(n = 9_000_000_000_000_000_000)
}
