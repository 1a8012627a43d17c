# fault: `true` used as a variable name
pipeline p {
  let true = 3
  stage a = synth.arith(n = 10)
}
