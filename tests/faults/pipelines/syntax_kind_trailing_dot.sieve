# fault: a stage kind ending in a dot
pipeline p {
  stage a = synth.(n = 10)
}
