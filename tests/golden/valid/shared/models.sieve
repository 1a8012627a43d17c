# DSL twin of models.yaml: a full pipeline whose name is ignored when imported; the
# import sits inside the block.
pipeline models_lib {
  import "warmup.sieve"
  stage init = model.init(arch = "tiny", layers = 2)
  stage base = sft(init, warm, steps = warm_n / 10)
}
