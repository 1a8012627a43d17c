# fault: `let` without a value
pipeline p {
  let n =
  stage a = synth.arith(n = 10)
}
