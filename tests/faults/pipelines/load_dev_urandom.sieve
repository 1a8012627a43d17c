# fault: loading an endless device
pipeline p {
  stage a = load(path = "/dev/urandom")
}
