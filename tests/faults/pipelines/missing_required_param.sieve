# fault: `load` without its required `path`
pipeline p {
  stage a = load()
}
