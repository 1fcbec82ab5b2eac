export { Changeover, productOf, type ProductOrigin, type RunningProduct } from './changeover.js';
export { nearestRow } from './nearest.js';
export { PromptCache, preparePrompt, promptServer, type PreparePrompt, type PromptModel } from './prompt-cache.js';
export { promptFileName, readRecipes, type ProductPrompts, type Recipe, type Recipes } from './recipes.js';
export { isPoolProduct, productConfigSchema, productNameSchema, productsSchema, type ProductConfig, type ProductsConfig } from './schema.js';
export { prepareStripTile, stripTileOf, type StripLayout, type StripTile } from './strip-prompts.js';
