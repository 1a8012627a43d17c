# Long-context data: RULER tasks swept over task and target length (the model's
# tokenizer measures the length), a haystack QA set built from a loaded QA file, all
# mixed into one training set; then one evaluation per task on held-out samples.
pipeline ruler {
  let seed = 1
  let lengths = [1_024, 2_048, 4_096]
  stage init = model.init(arch = "small", max_positions = 8_192)

  sweep task in ["niah_single", "niah_multikey", "vt", "cwe"], len in lengths {
    stage train = synth.ruler(init, n = 500, task = task, length = len, haystack = essay)
  }
  stage mixed_len = synth.ruler(n = 200, task = niah_multivalue, length = [512, 1_024],
                                value_type = uuids, values = 6, tokenizer = "words")
  stage chains    = synth.ruler(n = 200, task = vt, length = 1_024..1_030, hops = 2, chains = 3)

  stage squad  = load(path = "qa/squad.jsonl", prompt = "question")
  stage hay    = synth.haystack_qa(squad, init, n = 300, length = 2_048)
  stage hay_d  = synth.haystack_qa(squad, distractors = 5, tokenizer = "bytes")
  stage all    = concat(train, mixed_len, chains, hay, hay_d)
  stage tuned  = sft(init, all, max_seq_len = 4_096, packing = false, batch_size = 4, grad_accum = 8)

  sweep task in ["niah_single", "vt"] {
    stage test = synth.ruler(init, n = 50, task = task, length = 4_096, seed = 1_000)
    stage acc  = evaluate(tuned, test, metric = contains, max_new_tokens = 32, batch_size = 8)
  }
}
