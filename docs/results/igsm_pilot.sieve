# CPU pilot for difficulty_budget: can a small char-level decoder learn iGSM (ops 2–3)
# at all, and how fast? Results in difficulty_budget.md (≈40 min on 2 cores).
#   sieve run docs/results/igsm_pilot.sieve -j 1
pipeline igsm_pilot {
  let seed = 5
  stage pre  = synth.igsm(n = 40_000, ops = 2..3, distractors = 0, style = "compact", seed = 9)
  stage test = synth.igsm(n = 200, ops = 2..3, distractors = 0, style = "compact", seed = 10)
  stage init = model.init(arch = "tiny", tokenizer = "chars", seed = 1)
  sweep steps in [600, 2400] {
    stage base = sft(init, pre, steps = steps, lr = 1e-3, batch_size = 32, max_seq_len = 384)
    stage acc  = evaluate(base, test, metric = exact_match, slice_by = "ops", max_new_tokens = 256)
  }
}
