"""Training the content network (the structure prior of step 1): data, masks, the generator and discriminator,
the LightningModule, callbacks, loggers, ``train(cfg)``, export and the photo set. Uses the synthesis only for the
synthesis callback and the content prior; nothing from evaluation."""

from neuralpatch.training.data import InpaintingDataModule
from neuralpatch.training.masks import BoxMask, CenterMask, IrregularMask, MixedMask
from neuralpatch.training.module import ContentModule, load_generator
from neuralpatch.training.networks import ContentGenerator, Discriminator
from neuralpatch.training.prior import ContentPrior
from neuralpatch.training.run import train

__all__ = ["BoxMask", "CenterMask", "ContentGenerator", "ContentModule", "ContentPrior", "Discriminator",
           "InpaintingDataModule", "IrregularMask", "MixedMask", "load_generator", "train"]
