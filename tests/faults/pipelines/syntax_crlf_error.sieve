# fault: CRLF line endings, and an error on the third line
pipeline p {
  stage a = synth.arith(n = 10,, seed = 1)
}
