# fault: an integer literal beyond 64 bits
pipeline p {
  stage a = synth.arith(n = 99_999_999_999_999_999_999_999)
}
