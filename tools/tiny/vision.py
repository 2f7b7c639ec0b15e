"""Tiny random-weight Grounding DINO and SAM 2 (transformers), saved like their hub checkpoints."""

from __future__ import annotations

import logging
import string
from pathlib import Path

logger = logging.getLogger(__name__)

# Words the tiny BERT tokenizer learns as whole tokens; anything else falls back to letters.
_CORPUS = [
    "a cat. a dog. a person. a man. a woman. a child. a face. hair. eyes.",
    "a cup of coffee. a saucer. a spoon. a plate. a table. a mug. a bowl.",
    "a remote control. a couch. a sofa. a chair. a bed. a pillow. a blanket.",
    "a rocket. a launch pad. smoke. the sky. a cloud. the sun. a tree. grass.",
    "an astronaut. a flag. a helmet. a suit. a car. a bus. a bicycle. a boat.",
    "the red shirt. the blue hat. the green bag. a white wall. a black background.",
    "a bird. a horse. a bottle. a glass. a phone. a laptop. a book. a lamp. a window.",
]

# Grounding DINO splits the prompt at BERT-base-uncased's [CLS], [SEP], "." and "?" ids
# (101, 102, 1012, 1029, hard-coded in the model), so the tiny vocabulary keeps BERT's layout:
# [PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103, ASCII punctuation and digits from 999.
_BERT_SPECIALS = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}
_BERT_FIRST_PUNCT = 999


def _bert_vocab() -> dict[str, int]:
    """A small WordPiece vocabulary of the corpus's words, laid out on BERT's special ids.

    Built, not trained: the tokenizers library's WordPiece trainer breaks ties differently from
    run to run, and a tiny model must come out the same on every machine (snapshot tests).
    """
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(lowercase=True)
    split = pre_tokenizers.BertPreTokenizer()
    words = {w for line in _CORPUS for w, _ in split.pre_tokenize_str(normalizer.normalize_str(line))}
    alphabet = string.ascii_lowercase + string.digits + string.punctuation
    learned = sorted(words | set(alphabet) | {f"##{c}" for c in alphabet})

    vocab: dict[str, int] = dict(_BERT_SPECIALS)
    free = [i for i in range(_BERT_FIRST_PUNCT) if i not in vocab.values()]
    for n, i in enumerate(free):
        vocab[f"[unused{n}]"] = i
    # printable ASCII from "!" to "@" in order, as in BERT: "." lands on 1012 and "?" on 1029
    for n, ch in enumerate(chr(c) for c in range(ord("!"), ord("@") + 1)):
        vocab[ch] = _BERT_FIRST_PUNCT + n
    for token in learned:
        vocab.setdefault(token, len(vocab))
    if vocab["."] != 1012 or vocab["?"] != 1029 or sorted(vocab.values()) != list(range(len(vocab))):
        raise RuntimeError("tiny BERT vocabulary does not follow BERT-base-uncased's layout")
    return vocab


def build_grounding_dino(folder: Path) -> None:
    """Write a tiny Grounding DINO (Swin + BERT, random weights) laid out like ``IDEA-Research/grounding-dino-tiny``.

    The folder holds ``config.json``, ``model.safetensors``, the BERT tokenizer files and a
    ``GroundingDinoProcessor`` config, so ``AutoProcessor.from_pretrained(folder)`` and
    ``GroundingDinoForObjectDetection.from_pretrained(folder, use_safetensors=True)`` load it.
    Images are resized to 160–256 px (the real model: 800–1333 px), so any photo passes the
    >= 128 px the feature pyramid needs.
    """
    import torch
    from transformers import (BertConfig, BertTokenizer, GroundingDinoConfig, GroundingDinoForObjectDetection,
                              GroundingDinoImageProcessor, GroundingDinoProcessor, SwinConfig)

    vocab = _bert_vocab()
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True, model_max_length=256)
    backbone = SwinConfig(
        embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=4, mlp_ratio=2.0,
        out_features=["stage2", "stage3", "stage4"],
    )
    text = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=256,
    )
    config = GroundingDinoConfig(
        backbone_config=backbone, text_config=text, d_model=64, num_queries=100,
        encoder_layers=1, decoder_layers=2,  # 1 decoder layer breaks weight tying
        encoder_ffn_dim=64, decoder_ffn_dim=64, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_n_points=2, decoder_n_points=2, max_text_len=256,
    )
    torch.manual_seed(0)
    model = GroundingDinoForObjectDetection(config).eval()
    with torch.no_grad():
        # Random query and text features give logits of std ~8: every score saturates at 1.0.
        # Shrinking the decoder's output norm spreads them over ~(0.3, 0.9), so thresholds and
        # score ordering behave as with trained weights.
        model.model.decoder.layer_norm.weight.mul_(0.1)
    image_processor = GroundingDinoImageProcessor(size={"shortest_edge": 160, "longest_edge": 256})
    processor = GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    logger.info("tiny grounding-dino: %.2f M parameters", sum(p.numel() for p in model.parameters()) / 1e6)


def build_sam2(folder: Path) -> None:
    """Write a tiny SAM 2 (Hiera, random weights) laid out like ``facebook/sam2.1-hiera-tiny``.

    Same module structure and processor as the real model, hand-shrunk: 128 px input (the
    real model: 1024 px), 32-wide FPN and mask decoder.
    """
    import torch
    from transformers import (Sam2Config, Sam2HieraDetConfig, Sam2ImageProcessor, Sam2MaskDecoderConfig, Sam2Model,
                              Sam2Processor, Sam2PromptEncoderConfig, Sam2VisionConfig)

    size = 128
    dims = [8, 16, 32, 64]
    backbone = Sam2HieraDetConfig(
        hidden_size=dims[0], image_size=[size, size], blocks_per_stage=[1, 1, 2, 1], embed_dim_per_stage=dims,
        num_attention_heads_per_stage=[1, 1, 1, 1], window_size_per_stage=[4, 4, 4, 4],
        global_attention_blocks=[3],  # never a stage's first (query-pooling) block: that needs a window window_positional_embedding_background_size=[4, 4], mlp_ratio=2.0,
    )
    vision = Sam2VisionConfig(
        backbone_config=backbone, backbone_channel_list=dims[::-1], fpn_hidden_size=32,
        backbone_feature_sizes=[[size // 4] * 2, [size // 8] * 2, [size // 16] * 2],
    )
    prompt = Sam2PromptEncoderConfig(hidden_size=32, image_size=size, patch_size=16, mask_input_channels=4)
    decoder = Sam2MaskDecoderConfig(hidden_size=32, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32)
    config = Sam2Config(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder)
    torch.manual_seed(0)
    model = Sam2Model(config).eval()
    image_processor = Sam2ImageProcessor(size={"height": size, "width": size},
                                         mask_size={"height": size // 4, "width": size // 4})
    processor = Sam2Processor(image_processor=image_processor)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    logger.info("tiny sam2: %.2f M parameters", sum(p.numel() for p in model.parameters()) / 1e6)
