# fault: a variable defined twice
pipeline p {
  let n = 1
  let n = 2
  stage a = synth.arith(n = n)
}
