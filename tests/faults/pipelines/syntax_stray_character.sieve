# fault: a character the language does not have
pipeline p {
  stage a = synth.arith(n = 10) @
}
