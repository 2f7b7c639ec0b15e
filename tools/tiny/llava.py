"""A tiny random-weight LLaVA (CLIP vision tower + Llama text model) with a locally trained tokenizer."""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

IMAGE_TOKEN = "<image>"
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", IMAGE_TOKEN)
IMAGE_SIZE = 32
PATCH_SIZE = 8
VOCAB_SIZE = 1024
SEED = 0

# A ChatML template like llava-onevision-qwen2's: content is a string or a list of
# {"type": "image"} / {"type": "text", "text": ...} blocks; images come before the text.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}"
    "{% for block in message['content'] %}{% if block['type'] == 'image' %}{{ '<image>\n' }}{% endif %}{% endfor %}"
    "{% for block in message['content'] %}{% if block['type'] == 'text' %}{{ block['text'] }}{% endif %}{% endfor %}"
    "{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_ACTIONS = ("replace", "remove", "recolor", "add", "background", "global", "undo", "redo", "revert",
            "answer", "ask")
_SELECTORS = ("leftmost", "rightmost", "topmost", "bottommost", "largest", "smallest", "center",
              "nth_from_left", "nth_from_right", "all")
_KEYS = ("reasoning", "steps", "action", "referent", "content", "count", "version", "phrase",
         "attributes", "selector", "n", "box", "last_edited")
_OBJECTS = ("cup", "coffee", "table", "cat", "dog", "person", "guy", "woman", "rocket", "sky", "tree",
            "car", "flag", "hat", "helmet", "shirt", "black top", "saucer", "spoon", "background")
_COLOURS = ("red", "white", "black", "blue", "green", "yellow", "brown", "orange", "purple", "grey")


def _corpus() -> list[str]:
    """A few hundred sentences covering the plan schema's words and JSON punctuation."""
    lines = [
        "You are the planner of an image editor. Answer with one JSON object that follows the schema.",
        "Think step by step: first the reasoning, then the steps in order.",
        "The user asked to remove the cup and make the table white, so there are two steps.",
        "Undo the last two edits. Go back to the original. Make it autumn. Make it bigger.",
        "Is the edit done as asked? Answer yes or no.",
        '{"type": "object", "properties": {}, "required": [], "$defs": {}, "$ref": "#/$defs/Step"}',
        '{"anyOf": [{"type": "string"}, {"type": "null"}], "enum": [], "items": {"type": "number"},',
        '"maxLength": 200, "minItems": 1, "maxItems": 8, "minimum": 0, "maximum": 100, "default": null,',
        '"description": "", "title": "", "additionalProperties": false, "integer", "boolean", "array"}',
        "true false null 0 1 2 3 4 5 6 7 8 9 10 12.5 100 640 480 0.0 -1 1e3 [ ] { } , : \" \\ / ' ? ! ( ) .",
    ]
    for i, (action, obj) in enumerate(itertools.product(_ACTIONS, _OBJECTS)):
        colour = _COLOURS[i % len(_COLOURS)]
        selector = _SELECTORS[i % len(_SELECTORS)]
        lines.append(f"{action} the {obj} on the {selector.replace('_', ' ')} and make it {colour}.")
        lines.append(
            f'{{"reasoning": "the user wants to {action} the {obj}", "steps": [{{"action": "{action}", '
            f'"referent": {{"phrase": "{obj}", "attributes": ["{colour}"], "selector": "{selector}", '
            f'"n": {i % 5 + 1}, "box": [{i}.0, {i + 2}, {i * 3 + 10}.5, {i * 4 + 20}], "last_edited": '
            f'{"true" if i % 2 else "false"}}}, "content": "a {colour} {obj}", "count": {i % 3 + 1}, '
            f'"version": {i % 4}}}]}}'
        )
    lines.extend(f"{key}: {key}" for key in _KEYS)
    return lines


def build_tokenizer() -> PreTrainedTokenizerBase:
    """Train a small byte-level BPE (Qwen2 style, so any text tokenizes) and wrap it for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(_corpus(), trainer=trainer)
    state = bpe.model.__getstate__()
    model_state = json.loads(state.decode() if isinstance(state, bytes) else state)
    vocab: dict[str, int] = model_state["vocab"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model_state["merges"]]
    # transformers 5 fast tokenizers take vocab=/merges= (a vocab_file= would be silently ignored).
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges, unk_token=None, eos_token="<|im_end|>",
                               pad_token="<|endoftext|>", bos_token=None)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", IMAGE_TOKEN]})
    return tokenizer


def build(folder: Path) -> None:
    """Write a tiny ``LlavaForConditionalGeneration`` and its ``LlavaProcessor`` into ``folder``.

    The text model's hidden size is 64 so bitsandbytes 4-bit can quantize its Linear layers
    (blocksize 64); the vision tower and projector are smaller and must be skipped by 4-bit.
    """
    import torch
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    folder = Path(folder)
    tokenizer = build_tokenizer()
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, projection_dim=32)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16384,
                       bos_token_id=None, eos_token_id=eos_id, pad_token_id=pad_id, tie_word_embeddings=False)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_token_id,
                         vision_feature_select_strategy="default", vision_feature_layer=-1,
                         projector_hidden_act="gelu")
    torch.manual_seed(SEED)
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = eos_id
    model.generation_config.pad_token_id = pad_id
    model.generation_config.bos_token_id = None
    image_processor = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                         crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH_SIZE,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=CHAT_TEMPLATE)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    logger.info("tiny llava written to %s (%d tokens)", folder, len(tokenizer))
