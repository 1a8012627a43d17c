# fault: a range with a float bound
pipeline p {
  stage a = synth.igsm(n = 10, ops = 2..6.5)
}
