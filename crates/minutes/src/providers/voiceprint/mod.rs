//! Voiceprint identification engines (iFlyTek and local embeddings arrive with their issues).
