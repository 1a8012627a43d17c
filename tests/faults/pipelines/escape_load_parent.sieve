# fault: loading a file above the project folder
pipeline p {
  stage a = load(path = "../../../../../../etc/hostname")
}
