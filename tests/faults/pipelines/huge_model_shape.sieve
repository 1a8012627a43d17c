# fault: a model whose weights would need exabytes
pipeline p {
  stage i = model.init(arch = "nano", hidden_size = 1_000_000_000, layers = 1_000_000)
}
