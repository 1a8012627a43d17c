# fault: `=` missing after the stage name
pipeline p {
  stage a synth.arith(n = 10)
}
