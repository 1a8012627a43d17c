# fault: a stage that consumes itself
pipeline p {
  stage a = concat(a)
}
