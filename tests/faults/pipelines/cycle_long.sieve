# fault: a cycle through four stages
pipeline p {
  stage a = concat(d)
  stage b = concat(a)
  stage c = concat(b)
  stage d = concat(c)
}
