"""Builders of the transformers families (planner, grounding, segmentation): each writes ``folder`` from the
configs in ``source``, in the layout ``from_pretrained`` reads."""

from __future__ import annotations

import gc
import json
from pathlib import Path

from .vocabularies import bert_tokenizer, qwen2_english_tokenizer
from .weights import dtype, fast_init, save_model


def build_llava_onevision(source: Path, folder: Path) -> None:
    """LLaVA-OneVision (the planner) with the random planner's Qwen2 tokenizer in its processor."""
    from transformers import (AutoConfig, AutoModelForImageTextToText, GenerationConfig, LlavaOnevisionImageProcessor,
                              LlavaOnevisionProcessor, LlavaOnevisionVideoProcessor)

    config = AutoConfig.from_pretrained(source)
    tokenizer = qwen2_english_tokenizer()
    if tokenizer.convert_tokens_to_ids("<image>") != config.image_token_index:
        raise RuntimeError("the random planner's tokenizer does not put <image> at the config's image_token_index")
    with fast_init(dtype()):
        model = AutoModelForImageTextToText.from_config(config)
    model.generation_config = GenerationConfig.from_pretrained(source)
    save_model(model, folder)
    del model
    gc.collect()
    settings = json.loads((source / "processor_config.json").read_text())
    image_processor = LlavaOnevisionImageProcessor.from_pretrained(source)
    processor = LlavaOnevisionProcessor(
        image_processor=image_processor, tokenizer=tokenizer,
        video_processor=LlavaOnevisionVideoProcessor(image_mean=image_processor.image_mean,
                                                     image_std=image_processor.image_std),
        num_image_tokens=settings["num_image_tokens"],
        vision_feature_select_strategy=settings["vision_feature_select_strategy"],
        chat_template=settings["chat_template"])
    processor.save_pretrained(folder)


def build_grounding_dino(source: Path, folder: Path) -> None:
    """Grounding DINO with a BERT WordPiece on bert-base-uncased's ids."""
    from transformers import (AutoConfig, GroundingDinoForObjectDetection, GroundingDinoImageProcessor,
                              GroundingDinoProcessor)

    config = AutoConfig.from_pretrained(source)
    with fast_init(dtype()):
        model = GroundingDinoForObjectDetection(config)
    save_model(model, folder)
    GroundingDinoProcessor(image_processor=GroundingDinoImageProcessor.from_pretrained(source),
                           tokenizer=bert_tokenizer()).save_pretrained(folder)


def build_sam2(source: Path, folder: Path) -> None:
    """SAM 2.1 saved as the released checkpoints are: a video model (``sam2_video``, memory modules included)
    whose image part ``Sam2Model`` loads, so loading is as real."""
    from transformers import AutoConfig, Sam2ImageProcessor, Sam2Processor, Sam2VideoModel

    config = AutoConfig.from_pretrained(source)
    with fast_init(dtype()):
        model = Sam2VideoModel(config)
    save_model(model, folder)
    Sam2Processor(image_processor=Sam2ImageProcessor.from_pretrained(source)).save_pretrained(folder)
