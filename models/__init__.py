"""Model adapters (autoencoders, SD VAEs, coordinate MLPs): see the issues that build them."""
