# A curriculum over arithmetic: one model fine-tuned stage by stage on harder and harder
# problems (each stage's model feeds the next), with a per-operation evaluation sweep.
# Stages may refer to stages declared later.
pipeline curriculum {
  let seed = 2024
  let lr0  = 1e-3

  stage final_acc = evaluate(stage3, test_all, metric = last_number, slice_by = "difficulty")

  stage init   = model.init(arch = "tiny", family = llama, hidden_size = 128, heads = 4, kv_heads = 2)
  stage easy   = synth.arith(n = 4_000, digits = 1..2, difficulty = carries)
  stage medium = synth.arith(n = 4_000, digits = [3, 4], difficulty = steps)
  stage hard   = synth.arith(n = 4_000, digits = 5..8, op = mixed)
  stage stage1 = sft(init, easy, lr = lr0, epochs = 2)
  stage stage2 = sft(stage1, medium, lr = lr0 / 2, epochs = 2)
  stage stage3 = sft(stage2, hard, lr = lr0 / 4, epochs = 2, max_grad_norm = 0.5, weight_decay = 0.01)
  stage test_all = synth.arith(n = 600, digits = 1..8, op = mixed, seed = seed + 1)

  sweep op in ["add", "sub", "mul"] {
    stage test = synth.arith(n = 200, digits = 1..8, op = op, seed = seed + 2)
    stage acc  = evaluate(stage3, test, metric = last_number, slice_by = "difficulty")
  }
}
