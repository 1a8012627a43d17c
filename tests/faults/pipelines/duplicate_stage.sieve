# fault: two stages with one name
pipeline p {
  stage a = synth.arith(n = 10)
  stage a = synth.arith(n = 20)
}
