# fault: loading the whole file system as a model
pipeline p {
  stage m = model.load(path = "/")
}
