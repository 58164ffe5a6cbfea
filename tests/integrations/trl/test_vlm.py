"""Vision-language: HICRATrainer on a tiny random Qwen2-VL with image+text prompts, TRL's VLM path.

The processor is Qwen2-VL's without its video half: the video processor needs torchvision, which
this environment lacks; images go through the PIL image processor and TRL's own multimodal code.
"""

from __future__ import annotations

import pytest
import torch

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORDS = "user assistant : wait try first check so the answer is x = 2 + 4 , what color shape in image".split()
VISION_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }} :{% if message['content'] is string %} "
    "{{ message['content'] }}{% else %}{% for part in message['content'] %}{% if part['type'] == 'image' %} "
    "<|vision_start|><|image_pad|><|vision_end|>{% elif part['type'] == 'text' %} {{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %} \n{% endfor %}{% if add_generation_prompt %}assistant :{% endif %}"
)


def tiny_qwen2_vl():
    """(model, processor): a 90k-parameter Qwen2VLForConditionalGeneration and a word-level processor."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    from transformers.processing_utils import ProcessorMixin

    from hicra.models import build_tokenizer

    class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            self.image_token, self.video_token = "<|image_pad|>", "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    tokenizer = build_tokenizer([" ".join(WORDS)])
    tokenizer.add_special_tokens({"additional_special_tokens": VISION_TOKENS})
    processor = ImageOnlyQwen2VLProcessor(
        Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=56 * 56),
        tokenizer,
        chat_template=CHAT_TEMPLATE,
    )
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in VISION_TOKENS}
    special = dict(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    config = Qwen2VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=256,
            rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},
            **special,
        ),
        vision_config=dict(
            depth=1,
            embed_dim=32,
            hidden_size=32,
            num_heads=2,
            mlp_ratio=2,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            in_chans=3,
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        **special,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Qwen2VLForConditionalGeneration(config)
    return model, processor


def test_hicra_trainer_on_a_tiny_vlm(tmp_path, lexicon_file):
    import numpy as np
    from datasets import Dataset
    from PIL import Image

    from hicra.integrations.trl import HICRAConfig, HICRATrainer
    from hicra.integrations.trl.rewards import completion_text
    from hicra.runs import RunReader

    model, processor = tiny_qwen2_vl()
    images = [
        Image.fromarray((np.random.default_rng(i).random((56, 56, 3)) * 255).astype("uint8"))
        for i in range(4)
    ]
    prompt = [
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": "what color is x"}],
        }
    ]
    dataset = Dataset.from_dict(
        {"prompt": [prompt] * 4, "image": images, "answer": ["2", "4", "2", "4"]}
    )

    def reward(completions, answer, **kwargs):
        return [
            1.0 if a in completion_text(c).split() else 0.0 for c, a in zip(completions, answer)
        ]

    args = HICRAConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=6,
        max_steps=2,
        learning_rate=1e-2,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        seed=0,
        detector=lexicon_file,
        disable_tqdm=True,
    )
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = HICRATrainer(
        model=model,
        reward_funcs=reward,
        args=args,
        train_dataset=dataset,
        processing_class=processor,
    )
    trainer.train()
    changed = {
        n for n, p in trainer.model.named_parameters() if not torch.equal(before[n], p.detach())
    }
    assert any("visual" in n for n in changed) and any("language_model" in n for n in changed)
    logged = trainer.state.log_history[0]
    assert logged["hicra/tokens/planning"] > 0
    # the extra forward got the images: it matches TRL's own entropy on the training forward
    assert logged["hicra/entropy/all"] == pytest.approx(logged["entropy"], rel=1e-5)
    rows = RunReader(tmp_path / "hicra_run").rollouts(1)
    assert len(rows) == 4 and rows[0]["prompt"] == "what color is x"
