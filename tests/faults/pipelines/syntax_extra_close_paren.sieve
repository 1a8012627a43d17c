# fault: one `)` too many
pipeline p {
  stage a = synth.arith(n = (10)))
}
