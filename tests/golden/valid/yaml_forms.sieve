# DSL twin of yaml_forms.yaml: what each YAML spelling means, written plainly.
pipeline yaml_forms {
  let on_word    = "on"
  let hex        = "0x1F"
  let quoted_num = "3"
  let shout      = true
  let quiet      = false
  let literal    = "${not an expression}"
  let folded     = "one line of text"

  stage data  = synth.igsm(n = 2_000, ops = [2, 3])
  stage part  = split(data, mode = values, column = "3", values = ["1", 2, "x y"])
  stage init  = model.init(arch = nano, tie_embeddings = false, alphabet = "${ab}")
  stage tuned = sft(init, part, lr = 2e-4, packing = true, epochs = 2)
}
