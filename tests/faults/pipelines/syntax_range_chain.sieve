# fault: a range of a range
pipeline p {
  stage a = synth.igsm(n = 10, ops = 2..4..6)
}
