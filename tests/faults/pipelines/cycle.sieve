# fault: two stages that consume each other
pipeline p {
  stage a = concat(b)
  stage b = concat(a)
}
