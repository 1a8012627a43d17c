# Difficulty vs budget in SFT — the controlled iGSM experiment of arXiv 2605.12906
# (PAPERS.md §1). A small decoder is pretrained from scratch on easy problems (ops 2–6),
# then copies of it are fine-tuned on one difficulty bucket at several budgets; each copy
# is evaluated per `ops`, beyond the training range too. The finding to check: for a fixed
# budget, accuracy gain is an inverted U in difficulty, and the best bucket moves toward
# harder data as the budget grows.
#
#   sieve run pipelines/difficulty_budget.sieve                    # quick: CPU, minutes
#   sieve run pipelines/difficulty_budget.sieve --set profile=full # the reproduction (GPU)
#
# `quick` only exercises the whole chain (a ~0.1M-parameter model, tiny budgets); its
# numbers are not meant to show the effect. `full` is the reproduction target.
pipeline difficulty_budget {
  let profile = "quick"
  let seed = 7
  let device = choose(profile, "quick", "cpu", "full", "auto")

  # everything that differs between the profiles
  let arch      = choose(profile, "quick", "nano", "full", "small")
  let pool_n    = choose(profile, "quick", 1_000, "full", 100_000)
  let pre_n     = choose(profile, "quick", 1_000, "full", 100_000)
  let test_n    = choose(profile, "quick", 48, "full", 2_200)
  let test_ops  = choose(profile, "quick", 2..6, "full", 2..12)
  let pre_steps = choose(profile, "quick", 40, "full", 20_000)
  let budgets   = choose(profile, "quick", [16, 64], "full", [256, 1024, 4096, 16384])
  let buckets   = choose(profile, "quick", ["3-4", "5-6"], "full", ["3-4", "5-6", "7-8", "9-10"])
  let epochs    = choose(profile, "quick", 1, "full", 3)
  let max_len   = choose(profile, "quick", 512, "full", 1024)
  let new_tok   = choose(profile, "quick", 256, "full", 640)
  let eval_bs   = choose(profile, "quick", 64, "full", 256)
  let top       = choose(profile, "quick", 64, "full", 16384)

  # data: a selection pool over every difficulty, a test set, and easy pretraining data
  stage pool = synth.igsm(n = pool_n, ops = 2..12, distractors = 0, style = "compact", seed = seed)
  stage test = synth.igsm(n = test_n, ops = test_ops, distractors = 0, style = "compact", seed = seed + 1)
  stage pre  = synth.igsm(n = pre_n, ops = 2..6, distractors = 0, style = "compact", seed = seed + 2)

  # the base model: pretrained from scratch on ops 2–6
  stage init     = model.init(arch = arch, tokenizer = "chars", seed = seed)
  stage base     = sft(init, pre, steps = pre_steps, lr = 1e-3, batch_size = 32, max_seq_len = max_len)
  stage base_acc = evaluate(base, test, metric = exact_match, slice_by = "ops", max_new_tokens = new_tok,
                         batch_size = eval_bs)

  # difficulty = ops; buckets 3–4, 5–6, 7–8, 9–10 by explicit edges
  stage scored = score(pool, by = column("ops"))
  sweep budget in budgets, bucket in buckets {
    stage subset = select(scored, budget = budget, edges = [2.5, 4.5, 6.5, 8.5, 10.5],
                          band = choose(bucket, "3-4", 0, "5-6", 1, "7-8", 2, "9-10", 3),
                          nested = true)
    stage tuned  = sft(base, subset, epochs = epochs, lr = 3e-4, batch_size = 16, max_seq_len = max_len)
    stage acc    = evaluate(tuned, test, metric = exact_match, slice_by = "ops", max_new_tokens = new_tok,
                            batch_size = eval_bs)
  }

  # accuracy gain over the base: rows = budget, columns = bucket, best bucket per row marked
  stage gain    = report(acc, base_acc, kind = heatmap, x = bucket, y = budget, value = accuracy,
                         relative_to = baseline, title = "Accuracy gain over the base model")
  # accuracy per ops at the largest budget, one line per training bucket (base for reference)
  stage curves  = report(acc[budget = top], base_acc, kind = line, x = ops, series = bucket,
                         value = accuracy, title = "Accuracy per ops (largest budget)")
  stage summary = report(acc, base_acc, kind = table, y = budget, x = bucket, value = accuracy)
}
