# quickstart: learn 1–2 digit addition with a tiny transformer, then measure accuracy
# per difficulty (number of digits). Runs on CPU in a minute or two; rerun it and every
# stage is cached. Try: sieve run pipelines/quickstart.sieve --set tuned.lr=3e-3
pipeline quickstart {
  let seed = 7

  # data: synthetic problems with a column-by-column worked solution
  stage train = synth.arith(n = 3_000, digits = 1..2, op = "add", seed = seed)
  stage test  = synth.arith(n = 200, digits = 1..2, op = "add", seed = seed + 1)

  # a ≈1M-parameter Llama-style decoder with a character tokenizer
  stage init  = model.init(arch = "tiny", tokenizer = "chars", seed = seed)

  # supervised fine-tuning (completion-only loss), then greedy evaluation
  stage tuned = sft(init, train, epochs = 4, lr = 1e-3, batch_size = 32, max_seq_len = 96)
  stage acc   = evaluate(tuned, test, metric = exact_match, max_new_tokens = 96, slice_by = "difficulty")
}
