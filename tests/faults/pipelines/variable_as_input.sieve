# fault: a variable used as a stage input
pipeline p {
  let data = 5
  stage a = synth.arith(n = 10)
  stage c = concat(a, data)
}
