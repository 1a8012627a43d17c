# fault: a tokenizer outside the project folder
pipeline p {
  stage i = model.init(arch = "nano", tokenizer = "/etc/hosts")
}
