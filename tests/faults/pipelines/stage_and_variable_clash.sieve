# fault: a stage and a variable with one name
pipeline p {
  let a = 10
  stage a = synth.arith(n = 10)
}
