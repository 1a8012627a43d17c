# fault: a range parameter of a hundred million integers
pipeline p {
  stage a = synth.igsm(n = 10, ops = 1..100_000_000)
}
