# fault: a stage kind that does not exist
pipeline p {
  stage a = synth.arithmetic(n = 10)
}
