# fault: arithmetic beyond 64 bits
pipeline p {
  let big = 9_223_372_036_854_775_807
  stage a = synth.arith(n = big + 1)
}
