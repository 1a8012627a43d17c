# fault: chat = true on a model whose tokenizer has no chat template
pipeline p {
  stage d = synth.arith(n = 10)
  stage i = model.init(arch = "nano", tokenizer = "chars")
  stage t = sft(i, d, chat = true)
}
