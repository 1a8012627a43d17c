# fault: loading a system file
pipeline p {
  stage a = load(path = "/etc/passwd")
}
