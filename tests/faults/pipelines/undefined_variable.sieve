# fault: a variable nobody defined
pipeline p {
  stage a = synth.arith(n = rows * 2)
}
