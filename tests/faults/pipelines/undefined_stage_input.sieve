# fault: an input stage nobody defined
pipeline p {
  stage a = synth.arith(n = 10)
  stage c = concat(a, missing)
}
