# fault: a stage kind nothing like any real one
pipeline p {
  stage a = zzzz(n = 10)
}
